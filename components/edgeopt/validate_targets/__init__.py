"""validate-targets: the gate that checks a candidate model's metrics against a targets file."""
