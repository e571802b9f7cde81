import sys

from .cli import main

if __name__ == "__main__":  # the service's worker process re-imports this module (spawn)
    sys.exit(main())
