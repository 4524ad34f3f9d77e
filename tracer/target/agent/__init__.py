"""target/agent."""
