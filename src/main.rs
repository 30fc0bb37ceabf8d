// glibc's malloc was about 15% of the proxy's CPU at saturation (arena locks, consolidation on
// free; docs/BENCHMARKS.md); mimalloc's per-thread free lists suit many small short-lived buffers.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    bedrock_guard::cli::main()
}
