"""device-simulate: predict latency, RAM, flash and fit of an int8 TFLite model on a microcontroller."""
