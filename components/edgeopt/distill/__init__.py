"""distill: train a smaller student model to imitate the baseline (knowledge distillation)."""
