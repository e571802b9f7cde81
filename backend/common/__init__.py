"""What the backend and the Blender add-on share: standard library and numpy only.

``build_addon.py`` vendors this package into the extension (as ``panorig.common``); in the source
tree the add-on imports it from here (``blender_addon/shared.py``), so there is one copy of each
definition: the wire protocol, errors with hints, the settings schema, rotations, the pose
correctives, the rig's array layout and the animation sequence readers. Nothing here imports
torch or bpy.
"""
