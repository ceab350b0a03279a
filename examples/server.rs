//! The runnable authorization server: every linked endpoint over HTTP.
//!
//! ```sh
//! cargo run --example server -- --help
//! ```

use clap::Parser;
use oauth_endpoints_examples::server::{
    Options, banner, bind, init_logging, prepare, serve, shutdown_signal,
};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // Flushes the log when `main` returns, after the last line.
    let _log = init_logging();
    let options = Options::parse();
    match run(options).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(options: Options) -> Result<(), Box<dyn std::error::Error>> {
    let prepared = prepare(&options).await?;
    let listener = bind(options.addr).await?;
    let addr = listener.local_addr()?;
    // The banner is the program's output, not a log line.
    #[allow(clippy::print_stdout)]
    {
        println!("{}", banner(addr, &prepared));
    }
    serve(listener, prepared.server, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}
