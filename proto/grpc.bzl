"""cc_grpc_library: generates C++ protobuf and gRPC code with the system protoc."""

def cc_grpc_library(name, src, deps = [], proto_deps = [], **kwargs):
    outs = [src[:-len(".proto")] + s for s in [".pb.h", ".pb.cc", ".grpc.pb.h", ".grpc.pb.cc"]]
    native.genrule(
        name = name + "_gen",
        srcs = [src] + proto_deps,
        outs = outs,
        cmd = "protoc -I. --cpp_out=$(GENDIR) --grpc_out=$(GENDIR) " +
              "--plugin=protoc-gen-grpc=/usr/bin/grpc_cpp_plugin $(location %s)" % src,
    )
    native.cc_library(
        name = name,
        deps = deps + ["//third_party:grpc"],
        srcs = [o for o in outs if o.endswith(".cc")],
        hdrs = [o for o in outs if o.endswith(".h")],
        **kwargs
    )
