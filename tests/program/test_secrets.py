def test_password_is_exported_back_only_as_a_secret_output() -> None:
    """The engines recover a generated password from this output when their workspace is
    lost; the plan shows it masked and the engines never copy it into a result."""
    from payplat.model.parsing import parse_spec
    from payplat.program.plan import plan
    from payplat.program.stackkeys import PASSWORD_OUTPUT, SECRET_MASK

    outputs = plan(parse_spec({}, name="p"), name="p", stack="ns-p").outputs
    assert outputs[PASSWORD_OUTPUT] == SECRET_MASK
