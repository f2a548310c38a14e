"""Everything about a .tflite file: the flatbuffer read and written once (flatbuffer.py), the
operator schedule, scale rewrites, the project's metadata entry, the op audit against TFLite
Micro, and the interpreters that run it."""
