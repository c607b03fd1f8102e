"""Model lifecycle: versions, champion/challenger promotion, tracking (built in or MLflow).

`ModelRegistry` is what the steps and `segsync models` use; it stores every version in the
state file (connector.state.models) and mirrors each retrain to the configured tracker.
"""

from connector.lifecycle.registry import ModelRegistry, Registered, open_registry

__all__ = ["ModelRegistry", "Registered", "open_registry"]
