"""Tests of the template: rendering and static checks, and generated projects run end to end."""
