"""Pure, batch-first physics of the isac-gym systems (numpy/scipy only).

Every function takes arrays whose trailing axes are the physical dimensions and
whose leading axes are free batch axes (``[..., dims]``); SI units inside.
"""
