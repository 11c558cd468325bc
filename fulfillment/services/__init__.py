"""Writers of fulfillment: release and re-routing (routing.py), location actions (actions.py)."""
