import pytest


@pytest.fixture(autouse=True)
def _no_user_data(tmp_path_factory, monkeypatch):
    """No test reads or writes the user's ~/.cache/cnnlab/data or $CNNLAB_DATA."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("CNNLAB_DATA", raising=False)
    return home
