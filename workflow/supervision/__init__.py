"""Supervision of the work around the state machine: accountability (问责), monthly unit
reports (月度进展), look-back (回头看) and leaders' instructions (批示)."""
