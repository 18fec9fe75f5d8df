"""A client's JobRequest: checked completely (its subject, prompts, engines and options), then made a queued job."""
from addon.core.arkit import RIG_KINDS
from addon.core.errors import PromptFaceError
from addon.core.prompt_grammar import prompt_expression_names
from addon.core.protocol import JobRequest
from backend.engines import Engines
from backend.pipeline import PipelineOptions, check_inputs
from backend.serving.data_dir import photo_path
from backend.serving.errors import ServiceError
from backend.serving.job_store import StoredJob, StoredSubject
from backend.settings import Settings

# JobRequest.options a client may set, with their checks; everything else about a run is the server's business.
JOB_OPTIONS = {
    "skin_tone_strength": (lambda value: isinstance(value, (int, float)) and not isinstance(value, bool)
                           and 0.0 <= value <= 1.0, "a number in 0..1"),
    "enhance": (lambda value: isinstance(value, bool), "true or false"),
    "diagnostics": (lambda value: isinstance(value, bool), "true or false"),
    "write_expression_objs": (lambda value: isinstance(value, bool), "true or false"),
    "neutralise": (lambda value: isinstance(value, bool), "true or false"),
    "rig": (lambda value: value in RIG_KINDS, f"one of {', '.join(RIG_KINDS)}"),
}


def check_job_request(request: JobRequest, subject: StoredSubject | None, settings: Settings,
                      engines: Engines | None) -> PipelineOptions:
    """Every field of a job request checked; subject is the stored one it names (None: unknown), engines the
    loaded ones (None while loading: only their names are checked). Returns the job's pipeline options."""
    if subject is None:
        raise ServiceError("not_found", f"no subject '{request.subject_id}' on this server; upload the photo "
                                        "first (create subject) and use the subject_id it returns")
    if not photo_path(settings.data_dir, subject).is_file():
        raise ServiceError("not_found", photo_gone(request.subject_id))
    prompts = request.prompts
    if not isinstance(prompts, list) or not all(isinstance(prompt, str) for prompt in prompts):
        raise ServiceError("bad_request", "prompts must be a list of strings")
    for index, prompt in enumerate(prompts, start=1):
        if len(prompt) > settings.max_prompt_chars:
            raise ServiceError("invalid", f"prompt {index} is {len(prompt)} characters; the limit is "
                                          f"{settings.max_prompt_chars} — describe the expression in fewer words")
    if not isinstance(request.editor, str) or not isinstance(request.reconstructor, str):
        raise ServiceError("bad_request", "editor and reconstructor must be engine names (see engines)")
    if not isinstance(request.options, dict):
        raise ServiceError("bad_request", "options must be an object")
    for key, value in request.options.items():
        check, wanted = JOB_OPTIONS.get(key, (None, None))
        if check is None:
            raise ServiceError("invalid", f"unknown option '{key}'; the options are: {', '.join(JOB_OPTIONS)}")
        if not check(value):
            raise ServiceError("invalid", f"option '{key}' is {value!r}; it must be {wanted}")
    options = PipelineOptions(editor=request.editor, reconstructor=request.reconstructor, **request.options)
    try:
        check_inputs(prompts, options, engines, max_prompts=settings.max_prompts)
    except PromptFaceError as error:
        raise ServiceError("invalid", str(error)) from None
    return options


def queued_job(job_id: str, request: JobRequest, options: PipelineOptions) -> StoredJob:
    """The store's row of a checked request, queued, each expression pending."""
    names = prompt_expression_names(request.prompts)
    return StoredJob(
        job_id=job_id, subject_id=request.subject_id, status="queued", message="waiting in the queue",
        request={"subject_id": request.subject_id, "prompts": list(request.prompts),
                 "editor": options.editor, "reconstructor": options.reconstructor, "options": dict(request.options)},
        expressions=[{"name": name, "prompt": prompt, "status": "pending"}
                     for name, prompt in zip(names, request.prompts, strict=True)])


def photo_gone(subject_id: str) -> str:
    """The message for a subject whose photo was removed from disk behind the server's back."""
    return (f"subject '{subject_id}' is known but its photo is no longer on this server (it was removed from "
            "disk); upload the photo again (create subject) and use the subject_id it returns")
