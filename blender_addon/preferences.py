"""Add-on preferences: how to reach a backend and what it should load."""

from __future__ import annotations

import sys

import bpy
from bpy.props import EnumProperty, FloatProperty, StringProperty


class PanoRigPreferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    mode: EnumProperty(
        name="Backend",
        items=(
            ("LOCAL", "Start locally", "Start a backend on this machine with the Python below"),
            ("CONNECT", "Connect", "Connect to a backend already running (here or on a GPU box)"),
        ),
        default="LOCAL",
    )
    python: StringProperty(
        name="Backend Python",
        subtype="FILE_PATH",
        default=sys.executable,
        description="Python interpreter of the environment with PanoRig's backend and PyTorch",
    )
    project: StringProperty(
        name="PanoRig folder",
        subtype="DIR_PATH",
        default="",
        description="Folder holding backend/ when the backend is not installed in that Python",
    )
    address: StringProperty(
        name="Address",
        default="tcp://127.0.0.1:5577",
        description="ZeroMQ address of a running backend",
    )
    server_key: StringProperty(
        name="Server public key",
        subtype="FILE_PATH",
        default="",
        description="server.key made by 'python -m backend keys' (needed for remote backends)",
    )
    client_key: StringProperty(
        name="Client secret key",
        subtype="FILE_PATH",
        default="",
        description="client.key_secret made by 'python -m backend keys'",
    )
    checkpoint: StringProperty(
        name="Checkpoint",
        default="demo",
        subtype="FILE_PATH",
        description="Generator on the backend's machine: 'demo' (the bundled demo model), a "
        "PanoHead or EG3D .pkl, or a PanoRig .safetensors",
    )
    flame_model: StringProperty(
        name="FLAME model",
        subtype="FILE_PATH",
        default="",
        description="Your own FLAME file (generic_model.pkl, flame2023*.pkl or .npz) on the "
        "backend's machine; empty = the open head template (MakeHuman, CC0)",
    )
    device: EnumProperty(
        name="Device",
        items=(("auto", "Auto", ""), ("cuda", "GPU (CUDA)", ""), ("cpu", "CPU", "")),
        default="auto",
    )
    timeout: FloatProperty(
        name="Timeout (s)",
        default=30.0,
        min=2.0,
        max=600.0,
        description="Report the backend as lost after this long without an answer",
    )
    on_reconnect: EnumProperty(
        name="On reconnect",
        items=(
            ("RESUME", "Resume the job", "Follow the job that was running again; it lands"),
            ("CANCEL", "Cancel the job", "Stop the job that was running"),
        ),
        default="RESUME",
        description="What happens to a running job when Connect or Start is pressed again",
    )
    log_folder: StringProperty(
        name="Log folder",
        subtype="DIR_PATH",
        default="",
        description="Where the local backend writes its log (empty: the extension's own folder)",
    )

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        layout.prop(self, "mode", expand=True)
        if self.mode == "LOCAL":
            layout.prop(self, "python")
            layout.prop(self, "project")
            layout.prop(self, "device")
        else:
            layout.prop(self, "address")
            layout.prop(self, "server_key")
            layout.prop(self, "client_key")
        layout.prop(self, "checkpoint")
        layout.prop(self, "flame_model")
        layout.prop(self, "timeout")
        layout.prop(self, "on_reconnect")
        layout.prop(self, "log_folder")


def preferences(context: bpy.types.Context) -> PanoRigPreferences:
    return context.preferences.addons[__package__].preferences


def register() -> None:
    bpy.utils.register_class(PanoRigPreferences)


def unregister() -> None:
    bpy.utils.unregister_class(PanoRigPreferences)
