package mobilesdk

// The binary sync body (Content-Type application/x-joinedup) is documented
// in docs/sync-protocol.md. Its envelope codec and its messages (request,
// response, push results and their statuses) are syncengine/protocol, shared
// with the server, so the phone and the server cannot drift apart.
