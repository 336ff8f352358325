"""Feature computation shared by every dataset: optical flow, strain, landmarks, HTNet regions."""
