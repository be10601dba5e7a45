"""convert: export a float model to TFLite, ONNX, a TFLite Micro C array and OpenVINO IR, each checked for parity."""
