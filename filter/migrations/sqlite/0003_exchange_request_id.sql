-- The recorded exchange of one request, by its request id: the console's body
-- preview of a held request looks it up by the approval's request_id.
CREATE INDEX session_exchanges_by_request ON session_exchanges (request_id);
