// The Fooocus pipeline stages; see the files beside this one.
