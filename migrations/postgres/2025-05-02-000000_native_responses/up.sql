-- An `openai` provider that serves the OpenAI Responses API at {base_url}/responses:
-- Responses clients' requests go there as they came instead of being translated to Chat
-- Completions. On for the built-in `openai` provider (api.openai.com serves it); off for
-- every other OpenAI-compatible upstream (GLM, DeepSeek, vLLM, ...), which may not.
ALTER TABLE providers ADD COLUMN native_responses BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE providers SET native_responses = TRUE WHERE id = 'openai' AND is_builtin AND kind = 'openai';
