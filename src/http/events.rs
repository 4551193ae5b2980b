//! A deployment's output as Server-Sent Events (`output`, `process`, then `end`), for the API
//! and the dashboard alike.

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use tokio::sync::broadcast::error::RecvError;

use crate::deploy::hub::LogEvent;
use crate::services::deployments::Follow;

pub fn deployment_events(follow: Follow) -> Response {
    let stream = events_of(follow).map(Ok::<_, std::convert::Infallible>);
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

fn to_event(event: &LogEvent) -> Event {
    let name = match event {
        LogEvent::Output { .. } => "output",
        LogEvent::Process { .. } => "process",
        LogEvent::End { .. } => "end",
    };
    Event::default()
        .event(name)
        .json_data(event)
        .unwrap_or_else(|_| Event::default().event(name))
}

/// The events of a followed deployment; one still waiting sends nothing (but keep-alives)
/// until it starts.
fn events_of(follow: Follow) -> BoxStream<'static, Event> {
    match follow {
        Follow::Ended(events) => {
            futures_util::stream::iter(events.iter().map(to_event).collect::<Vec<_>>()).boxed()
        }
        Follow::Live(history, receiver, then) => {
            let replay =
                futures_util::stream::iter(history.iter().map(to_event).collect::<Vec<_>>());
            let ended = Arc::new(AtomicBool::new(false));
            let heard_end = ended.clone();
            let live = futures_util::stream::unfold(Some(receiver), move |receiver| {
                let heard_end = heard_end.clone();
                async move {
                    let mut receiver = receiver?;
                    loop {
                        match receiver.recv().await {
                            Ok(event) => {
                                let end = matches!(event, LogEvent::End { .. });
                                heard_end.store(end, Ordering::Relaxed);
                                let next = (!end).then_some(receiver);
                                return Some((to_event(&event), next));
                            }
                            Err(RecvError::Lagged(_)) => continue,
                            Err(RecvError::Closed) => return None,
                        }
                    }
                }
            });
            // Closed without an end: the end is not recorded yet; follow the record until it is.
            let rest = futures_util::stream::iter([then]).flat_map(move |then| {
                if ended.load(Ordering::Relaxed) {
                    futures_util::stream::empty().boxed()
                } else {
                    events_of(Follow::Later(then))
                }
            });
            replay.chain(live).chain(rest).boxed()
        }
        // Followed from the record, batch by batch, in one flat stream however long it runs.
        waiting @ (Follow::Recorded(..) | Follow::Later(_)) => {
            enum Part {
                Events(Vec<LogEvent>),
                Then(Follow),
            }
            futures_util::stream::unfold(Some(waiting), |next| async move {
                let follow = match next? {
                    // The deployment went (its project was deleted): the stream ends.
                    Follow::Later(later) => later.await.ok()?,
                    other => other,
                };
                Some(match follow {
                    Follow::Recorded(events, later) => {
                        (Part::Events(events), Some(Follow::Later(later)))
                    }
                    Follow::Later(later) => (Part::Events(Vec::new()), Some(Follow::Later(later))),
                    other => (Part::Then(other), None),
                })
            })
            .flat_map(|part| match part {
                Part::Events(events) => {
                    futures_util::stream::iter(events.iter().map(to_event).collect::<Vec<_>>())
                        .boxed()
                }
                Part::Then(follow) => events_of(follow),
            })
            .boxed()
        }
    }
}
