"""Shadow mode's copies: started away from the caller, compared by the workers.

``starts``: what both ways of starting a copy share (the bound, the drop count) and
``ShadowRunner``, which starts copies in the router's process; ``handoff``:
``ShadowHandoff``, which writes them to a Redis stream instead; ``intents``: how a copy
is written there; ``relay``: the workers' side, which reads the stream and starts them.
"""
