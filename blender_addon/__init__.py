"""PanoRig: rigged, textured heads from a tri-grid generator, in Blender's sidebar.

Blender-free modules (``protocol``, ``client``, ``decode``, ``backend_process``) import no bpy,
so they are importable and testable outside Blender; the bpy-facing ones load in ``register``.
"""


def register() -> None:
    from . import operators, panel, preferences, properties

    preferences.register()
    properties.register()
    operators.register()
    panel.register()


def unregister() -> None:
    from . import operators, panel, preferences, properties, runtime

    runtime.shutdown()
    panel.unregister()
    operators.unregister()
    properties.unregister()
    preferences.unregister()
