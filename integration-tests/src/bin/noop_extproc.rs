//! `noop_extproc`: the protocol floor for the data-path benchmark (`scripts/bench-datapath`).
//!
//! A minimal Envoy `ExternalProcessor` that does nothing but what the protocol requires. It
//! answers the request headers with `CONTINUE` plus the same `mode_override` Warden sends for a
//! GET that needs no inspection (request body `NONE`, response headers `SKIP`, response body
//! `NONE`, trailers `SKIP`), so each HTTP request costs exactly one gRPC round trip. Any other
//! message (if Envoy's config ignores the override) gets a plain `CONTINUE`.
//!
//! Usage: `noop_extproc --listen 127.0.0.1:50052`

use std::net::SocketAddr;
use std::pin::Pin;

use clap::Parser;
use envoy_types::pb::envoy::extensions::filters::http::ext_proc::v3::{
    processing_mode::{BodySendMode, HeaderSendMode},
    ProcessingMode,
};
use envoy_types::pb::envoy::service::ext_proc::v3::{
    common_response::ResponseStatus,
    external_processor_server::{ExternalProcessor, ExternalProcessorServer},
    processing_request::Request,
    processing_response::Response,
    BodyResponse, CommonResponse, HeadersResponse, ProcessingRequest, ProcessingResponse,
    TrailersResponse,
};
use futures::{Stream, StreamExt};
use tonic::{Status, Streaming};

/// Command line.
#[derive(Debug, Parser)]
#[command(about = "No-op Envoy ext_proc server: the protocol floor for benchmarks")]
struct Args {
    /// Address to serve gRPC on.
    #[arg(long, default_value = "127.0.0.1:50052")]
    listen: SocketAddr,
}

/// The no-op processor.
#[derive(Debug, Default)]
struct Noop;

/// The processing mode Warden asks for on a GET whose response needs no inspection.
fn pass_through_mode() -> ProcessingMode {
    ProcessingMode {
        request_header_mode: HeaderSendMode::Send as i32,
        response_header_mode: HeaderSendMode::Skip as i32,
        request_body_mode: BodySendMode::None as i32,
        response_body_mode: BodySendMode::None as i32,
        request_trailer_mode: HeaderSendMode::Skip as i32,
        response_trailer_mode: HeaderSendMode::Skip as i32,
    }
}

fn continue_common() -> Option<CommonResponse> {
    Some(CommonResponse {
        status: ResponseStatus::Continue as i32,
        ..Default::default()
    })
}

/// The one response each request message needs.
fn respond(request: ProcessingRequest) -> Result<ProcessingResponse, Status> {
    let headers = || HeadersResponse {
        response: continue_common(),
    };
    let body = || BodyResponse {
        response: continue_common(),
    };
    let trailers = || TrailersResponse {
        header_mutation: None,
    };
    let (response, mode_override) = match request.request {
        Some(Request::RequestHeaders(_)) => (
            Response::RequestHeaders(headers()),
            Some(pass_through_mode()),
        ),
        Some(Request::ResponseHeaders(_)) => (Response::ResponseHeaders(headers()), None),
        Some(Request::RequestBody(_)) => (Response::RequestBody(body()), None),
        Some(Request::ResponseBody(_)) => (Response::ResponseBody(body()), None),
        Some(Request::RequestTrailers(_)) => (Response::RequestTrailers(trailers()), None),
        Some(Request::ResponseTrailers(_)) => (Response::ResponseTrailers(trailers()), None),
        None => {
            return Err(Status::invalid_argument(
                "ProcessingRequest without a request",
            ))
        }
    };
    Ok(ProcessingResponse {
        response: Some(response),
        mode_override,
        ..Default::default()
    })
}

#[tonic::async_trait]
impl ExternalProcessor for Noop {
    type ProcessStream = Pin<Box<dyn Stream<Item = Result<ProcessingResponse, Status>> + Send>>;

    async fn process(
        &self,
        request: tonic::Request<Streaming<ProcessingRequest>>,
    ) -> Result<tonic::Response<Self::ProcessStream>, Status> {
        let inbound = request.into_inner();
        let outbound = inbound.map(|message| message.and_then(respond));
        Ok(tonic::Response::new(Box::pin(outbound)))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e} (port in use?)", args.listen))?;
    eprintln!("noop_extproc listening on {}", listener.local_addr()?);
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener).map(|stream| {
        if let Ok(stream) = &stream {
            // Best effort: small gRPC frames must not wait for Nagle.
            let _ = stream.set_nodelay(true);
        }
        stream
    });
    tonic::transport::Server::builder()
        .add_service(ExternalProcessorServer::new(Noop))
        .serve_with_incoming_shutdown(incoming, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use envoy_types::pb::envoy::service::ext_proc::v3::{HttpBody, HttpHeaders};

    fn request(request: Request) -> ProcessingRequest {
        ProcessingRequest {
            request: Some(request),
            ..Default::default()
        }
    }

    #[test]
    fn request_headers_continue_with_pass_through_override() {
        let out = respond(request(Request::RequestHeaders(HttpHeaders::default())));
        let out = out.unwrap_or_else(|status| panic!("{status}"));
        assert!(matches!(out.response, Some(Response::RequestHeaders(_))));
        let mode = out.mode_override.unwrap_or_default();
        assert_eq!(mode.request_body_mode, BodySendMode::None as i32);
        assert_eq!(mode.response_header_mode, HeaderSendMode::Skip as i32);
        assert_eq!(mode.response_body_mode, BodySendMode::None as i32);
    }

    #[test]
    fn other_messages_get_the_matching_continue() {
        let out = respond(request(Request::ResponseBody(HttpBody::default())));
        let out = out.unwrap_or_else(|status| panic!("{status}"));
        assert!(matches!(out.response, Some(Response::ResponseBody(_))));
        assert!(out.mode_override.is_none());
        assert!(respond(ProcessingRequest::default()).is_err());
    }
}
