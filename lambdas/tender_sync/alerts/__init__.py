"""Alert processing: saved searches (subscriptions) matched against each change event, and the matches delivered
once, by email (SES) and by signed webhook (Standard Webhooks)."""
