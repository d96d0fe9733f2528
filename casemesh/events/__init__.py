"""Event contracts: the envelope and every versioned event model."""

from casemesh.events.envelope import Envelope, new_envelope

__all__ = ["Envelope", "new_envelope"]
