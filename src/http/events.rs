//! A deployment's output as Server-Sent Events (`output`, `process`, then `end`), for the API
//! and the dashboard alike.

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use tokio::sync::broadcast::error::RecvError;

use crate::deploy::hub::LogEvent;
use crate::services::deployments::Follow;

pub fn deployment_events(follow: Follow) -> Response {
    let to_event = |event: &LogEvent| {
        let name = match event {
            LogEvent::Output { .. } => "output",
            LogEvent::Process { .. } => "process",
            LogEvent::End { .. } => "end",
        };
        Event::default()
            .event(name)
            .json_data(event)
            .unwrap_or_else(|_| Event::default().event(name))
    };
    let stream = match follow {
        Follow::Ended(events) => {
            futures_util::stream::iter(events.iter().map(to_event).collect::<Vec<_>>()).boxed()
        }
        Follow::Live(history, receiver) => {
            let replay =
                futures_util::stream::iter(history.iter().map(to_event).collect::<Vec<_>>());
            let live = futures_util::stream::unfold(Some(receiver), move |receiver| async move {
                let mut receiver = receiver?;
                loop {
                    match receiver.recv().await {
                        Ok(event) => {
                            let ended = matches!(event, LogEvent::End { .. });
                            let next = (!ended).then_some(receiver);
                            return Some((to_event(&event), next));
                        }
                        Err(RecvError::Lagged(_)) => continue,
                        Err(RecvError::Closed) => return None,
                    }
                }
            });
            replay.chain(live).boxed()
        }
    };
    let stream = stream.map(Ok::<_, std::convert::Infallible>);
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}
