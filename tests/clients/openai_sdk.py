"""Drives the official OpenAI Python SDK against bedrock-guard, as an application would.

Run by tests/openai.rs: `python openai_sdk.py BASE_URL API_KEY ALLOWED_MODEL DENIED_MODEL`. Prints one
JSON object with what the SDK returned or raised; the Rust test asserts on it.
"""

import json
import sys

import openai
from openai import OpenAI


def denied(call):
    """What the SDK raised for a call the guard refuses."""
    try:
        call()
    except openai.APIStatusError as e:
        return {
            "raised": type(e).__name__,
            "status": e.status_code,
            "message": e.message,
            "type": e.type,
            "code": e.code,
        }
    return {"raised": None}


def main():
    base_url, api_key, allowed, denied_model = sys.argv[1:5]
    client = OpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=30)
    messages = [{"role": "user", "content": "Hello"}]
    out = {"sdk_version": openai.__version__}

    chat = client.chat.completions.create(model=allowed, messages=messages)
    out["chat"] = {
        "content": chat.choices[0].message.content,
        "model": chat.model,
        "prompt_tokens": chat.usage.prompt_tokens,
        "completion_tokens": chat.usage.completion_tokens,
    }

    parts, usage = [], None
    for chunk in client.chat.completions.create(
        model=allowed, messages=messages, stream=True, stream_options={"include_usage": True}
    ):
        for choice in chunk.choices:
            if choice.delta.content:
                parts.append(choice.delta.content)
        if chunk.usage:
            usage = chunk.usage
    out["chat_stream"] = {
        "content": "".join(parts),
        "prompt_tokens": usage.prompt_tokens if usage else None,
        "completion_tokens": usage.completion_tokens if usage else None,
    }

    out["chat_denied"] = denied(
        lambda: client.chat.completions.create(model=denied_model, messages=messages)
    )
    out["chat_stream_denied"] = denied(
        lambda: client.chat.completions.create(model=denied_model, messages=messages, stream=True)
    )

    response = client.responses.create(model=allowed, input="Hello")
    out["response"] = {
        "id": response.id,
        "text": response.output_text,
        "input_tokens": response.usage.input_tokens,
        "output_tokens": response.usage.output_tokens,
    }
    events, completed_usage = [], None
    for event in client.responses.create(model=allowed, input="Hello", stream=True):
        events.append(event.type)
        if event.type == "response.completed":
            completed_usage = event.response.usage
    out["response_stream"] = {
        "events": events,
        "input_tokens": completed_usage.input_tokens if completed_usage else None,
    }
    out["retrieved"] = client.responses.retrieve(response.id).status
    out["cancelled"] = client.responses.cancel(response.id).status
    client.responses.delete(response.id)
    out["deleted"] = True
    out["response_denied"] = denied(
        lambda: client.responses.create(model=denied_model, input="Hello")
    )

    print(json.dumps(out))


if __name__ == "__main__":
    main()
