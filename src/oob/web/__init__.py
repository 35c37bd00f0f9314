"""The dashboard: live pages and a JSON API for out-of-band runs (`oob serve`).

`create_app` builds the ASGI app from a `Settings`; `oob.web.auth` says who is asking and
guards every state-changing request, and `oob.web.signin` settles it before any route runs;
`oob.web.views` computes what a run page shows.
"""
