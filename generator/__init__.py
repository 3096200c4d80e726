"""CycleHand generator: hand model, poses, textures, lighting, cameras, scenes, shards, jobs, CLI."""
