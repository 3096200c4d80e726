"""The render room: the Blender view (``blender_view``, the only module that imports bpy), one
applier per kind (``appliers``), quality presets as data (``presets``) and numpy post-processing
(``postprocess``). Importing this package imports nothing heavy: ``presets`` and ``postprocess``
stay usable without Blender.
"""
