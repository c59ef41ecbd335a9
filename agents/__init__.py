"""Stable-Baselines3 agents, TensorBoard monitoring and evaluation for isac-gym runs."""
