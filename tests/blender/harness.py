"""What the Blender-side test scripts share (imported from beside them: a script's folder is
first on sys.path): the extension installed as a user installs it, its runtime pumped by hand
(bpy has no event loop for timers), evaluated meshes, and a frontal camera with a sun."""

import time

import bpy
import numpy as np

PACKAGE = "bl_ext.user_default.panorig"


def install_extension(zip_path: str) -> None:
    """An empty scene with the built extension installed and enabled (wheels included)."""
    for obj in list(bpy.data.objects):  # the startup scene's cube, camera and light
        bpy.data.objects.remove(obj)
    bpy.ops.extensions.package_install_files(
        filepath=zip_path, repo="user_default", enable_on_install=True
    )


def pump_until(runtime, state, done, limit: float) -> float:
    """Pump the add-on's runtime until ``done()``; returns the seconds it took."""
    start = time.monotonic()
    while not done():
        if time.monotonic() - start > limit:
            raise SystemExit(
                f"timed out; status {state.status!r}, stage {state.stage!r}, "
                f"error {state.last_error!r}"
            )
        runtime.pump()
        time.sleep(0.02)
    return time.monotonic() - start


def evaluated_vertices(obj: bpy.types.Object) -> np.ndarray:
    """[N, 3] vertex positions after shape keys and modifiers at the current frame."""
    depsgraph = bpy.context.evaluated_depsgraph_get()
    mesh = obj.evaluated_get(depsgraph).to_mesh()
    co = np.empty(len(mesh.vertices) * 3, np.float32)
    mesh.vertices.foreach_get("co", co)
    obj.evaluated_get(depsgraph).to_mesh_clear()
    return co.reshape(-1, 3)


def front_camera_and_sun(scene: bpy.types.Scene, lens: float) -> None:
    """The generator's frontal camera (in Blender's frame, 2.7 units away), a sun from above
    and a little to the side, and a transparent film."""
    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    camera.data.sensor_fit, camera.data.sensor_width, camera.data.lens = "HORIZONTAL", 36.0, lens
    camera.location, camera.rotation_euler = (0.0, -2.7, 0.0), (np.pi / 2, 0.0, 0.0)
    scene.collection.objects.link(camera)
    scene.camera = camera
    light = bpy.data.objects.new("Key", bpy.data.lights.new("Key", "SUN"))
    light.rotation_euler = (np.radians(70), 0.0, np.radians(-20))
    scene.collection.objects.link(light)
    scene.render.film_transparent = True
