"""Puzzel SMS Gateway (formerly Intelecom): REST/GET MT, management, codes."""
