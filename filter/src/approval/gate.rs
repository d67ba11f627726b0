//! The approval gate: turns a policy `hold` into pass, wait or a hold reply.
