fn main() -> std::process::ExitCode {
    bedrock_guard::cli::main()
}
