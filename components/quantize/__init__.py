"""quantize: turn a float Keras/SavedModel bundle into a TFLite model (int8, dynamic range or float16)."""
