"""libFuzzer targets built with clang-14 inside the normal (g++) build.

fuzz_test(name, srcs, deps, corpus, dict) declares `<name>_fuzzer`, a cc_binary of `srcs`
(defining LLVMFuzzerTestOneInput, no main), and the test `<name>_fuzz_test` that runs it for
a short while on its seed corpus. The fuzzer and everything it links are built with
tools/fuzz/toolchain's clang-14 under -fsanitize=fuzzer,address,undefined through a
configuration transition, in their own output folder: the rest of the build keeps g++ and its
flags. ops/fuzz.sh runs the same binaries for longer.
"""

_SANITIZE = "-fsanitize=fuzzer-no-link,address,undefined"

def _clang_fuzz_transition_impl(settings, attr):
    return {
        "//command_line_option:crosstool_top": "//tools/fuzz/toolchain:clang_suite",
        "//command_line_option:compiler": "clang",
        "//command_line_option:copt": [
            "-Wall",
            _SANITIZE,
            # A UBSan report must stop the run as a crash, as an ASan report does.
            "-fno-sanitize-recover=undefined",
            "-fno-omit-frame-pointer",
            "-gline-tables-only",
            "-O1",
        ],
        "//command_line_option:linkopt": [
            "-fsanitize=fuzzer,address,undefined",
            # The toolchain links with the C driver: UBSan's C++ part (vptr checks) by hand.
            "-fsanitize-link-c++-runtime",
        ],
    }

_clang_fuzz_transition = transition(
    implementation = _clang_fuzz_transition_impl,
    inputs = [],
    outputs = [
        "//command_line_option:crosstool_top",
        "//command_line_option:compiler",
        "//command_line_option:copt",
        "//command_line_option:linkopt",
    ],
)

def _fuzz_test_impl(ctx):
    fuzzer_info = ctx.attr.fuzzer[0][DefaultInfo]
    fuzzer = fuzzer_info.files_to_run.executable
    script = ctx.actions.declare_file(ctx.label.name + ".sh")
    ctx.actions.expand_template(
        template = ctx.file._runner,
        output = script,
        substitutions = {
            "@FUZZER@": fuzzer.short_path,
            "@CORPUS@": " ".join([f.short_path for f in ctx.files.corpus]),
            "@DICT@": ctx.file.dict.short_path if ctx.file.dict else "",
            "@RUNS@": str(ctx.attr.runs),
            "@MAX_LEN@": str(ctx.attr.max_len),
            "@NAME@": ctx.label.name,
        },
        is_executable = True,
    )
    files = [fuzzer] + ctx.files.corpus + ([ctx.file.dict] if ctx.file.dict else [])
    runfiles = ctx.runfiles(files = files).merge(fuzzer_info.default_runfiles)
    return [DefaultInfo(executable = script, runfiles = runfiles)]

_fuzz_test = rule(
    implementation = _fuzz_test_impl,
    test = True,
    attrs = {
        "fuzzer": attr.label(
            cfg = _clang_fuzz_transition,
            executable = True,
            mandatory = True,
        ),
        "corpus": attr.label_list(allow_files = True),
        "dict": attr.label(allow_single_file = True),
        # Inputs run by the short run in the test suite (ops/fuzz.sh runs by time).
        "runs": attr.int(default = 20000),
        "max_len": attr.int(default = 4096),
        "_runner": attr.label(
            default = "//tools/fuzz:run_fuzzer.sh",
            allow_single_file = True,
        ),
        "_allowlist_function_transition": attr.label(
            default = "@bazel_tools//tools/allowlists/function_transition_allowlist",
        ),
    },
)

def fuzz_test(name, srcs, deps, corpus, dict = None, data = [], runs = 20000, max_len = 4096):
    """The fuzzer `<name>_fuzzer` and its short run `<name>_fuzz_test` (see the file comment)."""

    # Manual: built only through the test's transition (with g++ it has no main to link).
    native.cc_binary(
        name = name + "_fuzzer",
        srcs = srcs,
        deps = deps,
        data = data,
        testonly = True,
        tags = ["manual"],
    )
    _fuzz_test(
        name = name + "_fuzz_test",
        size = "medium",
        fuzzer = ":" + name + "_fuzzer",
        corpus = corpus,
        dict = dict,
        runs = runs,
        max_len = max_len,
    )
