//! The JSON each chat service's incoming web hooks expect.

use serde_json::{Value, json};

use super::message::{Message, clip};

/// Slack: a fallback `text` and Block Kit blocks (title linked, then the facts as fields).
pub fn slack(message: &Message) -> Value {
    let title = message.title();
    let fields: Vec<Value> = message
        .facts()
        .into_iter()
        .map(|(label, value)| {
            json!({"type": "mrkdwn", "text": format!("*{label}*\n{}", slack_escape(value))})
        })
        .collect();
    json!({
        "text": title,
        "blocks": [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": format!("*<{}|{}>*", message.link, slack_escape(&title)),
                }
            },
            {"type": "section", "fields": fields},
        ],
    })
}

/// Slack treats `&`, `<` and `>` as markup.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Discord: one embed, coloured by the event's tone, with the facts as inline fields.
pub fn discord(message: &Message) -> Value {
    let fields: Vec<Value> = message
        .facts()
        .into_iter()
        .map(|(label, value)| json!({"name": label, "value": value, "inline": true}))
        .collect();
    json!({
        "username": "Slipway",
        "embeds": [{
            "title": clip(&message.title(), 256),
            "url": message.link,
            "color": message.event.tone().rgb(),
            "fields": fields,
        }],
    })
}

/// Microsoft Teams (Workflows web hooks): an Adaptive Card in a message envelope.
pub fn teams(message: &Message) -> Value {
    let facts: Vec<Value> = message
        .facts()
        .into_iter()
        .map(|(label, value)| json!({"title": label, "value": value}))
        .collect();
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": [
                    {
                        "type": "TextBlock",
                        "size": "Medium",
                        "weight": "Bolder",
                        "wrap": true,
                        "text": message.title(),
                    },
                    {"type": "FactSet", "facts": facts},
                ],
                "actions": [{
                    "type": "Action.OpenUrl",
                    "title": message.link_label(),
                    "url": message.link,
                }],
            },
        }],
    })
}
