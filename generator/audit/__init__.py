"""Realism audit: a real-photo hand landmarker (MediaPipe Hands) judges rendered views.

``metrics`` is pure numpy (pixel conventions, PCK, handedness, binning, summaries) and is tested
in the main suite; ``landmarker`` runs inside the separate realism environment (mediapipe pins
numpy<2 and an old protobuf, so it never enters the core dependencies); ``cli`` is the
`cyclehand-gen audit` command that feeds one to the other.
"""
