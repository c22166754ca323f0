"""The network side of STOMP: sessions with the broker over trio, and reconnection."""
