"""Test helpers that ship with overseer, for its own tests and for users testing their policies.

`ScriptedAnthropicServer` speaks the Anthropic Messages API from a script, so the real `claude`
CLI can be driven offline; `claude_environ` gives the CLI a clean environment pointed at it.
`ScriptedOllamaServer` plays an Ollama server for the `ollama` supervisor, `ScriptedOpenAIServer` the
failures of an OpenAI-compatible one (`llama_server.LlamaCppServer` runs a real one). Standard library only.
"""

from overseer.testing.environment import DUMMY_API_KEY, claude_environ, without_model_credentials
from overseer.testing.ollama_server import OllamaErrorReply, ScriptedOllamaServer
from overseer.testing.openai_server import OpenAIErrorReply, ScriptedOpenAIServer
from overseer.testing.scripted_api import Say, ScriptedAnthropicServer, Turn, Use, api_error, dropped, turn

__all__ = [
    "DUMMY_API_KEY",
    "OllamaErrorReply",
    "OpenAIErrorReply",
    "Say",
    "ScriptedAnthropicServer",
    "ScriptedOllamaServer",
    "ScriptedOpenAIServer",
    "Turn",
    "Use",
    "api_error",
    "claude_environ",
    "dropped",
    "turn",
    "without_model_credentials",
]
