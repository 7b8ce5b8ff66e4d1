"""Reading ML Metadata as KFP's launcher writes it, over gRPC or gRPC-Web, with the
project's own copy of MLMD's messages (``proto``)."""
