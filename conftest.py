"""Repository-root conftest: puts the repo root (``agents``, ``train.py``) on ``sys.path`` for the tests."""
