"""PanoRig backend: generators, geometry, textures and rigs as plain functions, plus the service."""
