"""convert: export a float model to TFLite, ONNX and a TFLite Micro C array, each checked for parity."""
