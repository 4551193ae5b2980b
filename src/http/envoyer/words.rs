//! Problems and failures in Laravel's words, as Envoyer's clients read them (the dashboard
//! shows people the same sentences).

use crate::domain::validation::{Problem, RepositoryForm, attribute_name};
use crate::error::Failure;

/// A field's problem as Laravel's validation words it.
pub fn sentence(field: &str, problem: &Problem) -> String {
    let a = attribute_name(field);
    match problem {
        Problem::Required => format!("The {a} field is required."),
        Problem::NotString => format!("The {a} field must be a string."),
        Problem::NotBoolean => format!("The {a} field must be true or false."),
        Problem::NotInteger => format!("The {a} field must be an integer."),
        Problem::NotArray => format!("The {a} field must be an array."),
        Problem::NotIntegerEntries => format!("Each {a} entry must be an integer."),
        Problem::ControlCharacters => format!("The {a} field must not contain control characters."),
        Problem::TooLong(max) => {
            format!("The {a} field must not be greater than {max} characters.")
        }
        Problem::TooShort(min) => format!("The {a} field must be at least {min} characters."),
        Problem::TooLarge(kilobytes) => {
            format!("The {a} may not be greater than {kilobytes} kilobytes.")
        }
        Problem::NotOneOf => format!("The selected {a} is invalid."),
        Problem::Between(min, max) => format!("The {a} field must be between {min} and {max}."),
        Problem::SecondsBetween(min, max) => {
            format!("The {a} must be between {min} and {max} seconds.")
        }
        Problem::Email => format!("The {a} field must be a valid email address."),
        Problem::Url | Problem::Scheme => format!("The {a} field must be a valid URL."),
        Problem::UnixUser => format!("The {a} field must be a valid Unix user name."),
        Problem::Host => format!("The {a} field must be a valid host name or IP address."),
        Problem::GitRef => format!("The {field} must be a valid git {field} name."),
        Problem::Sha => "The sha must be a commit hash of 7 to 40 hexadecimal digits.".to_owned(),
        Problem::RelativePath => {
            format!("The {field} path must be relative to the project, without `..`.")
        }
        Problem::AbsolutePath => {
            format!("The {a} must be an absolute path without `..` or special characters.")
        }
        Problem::ProgramPath => format!("The {a} must be a program name or an absolute path."),
        Problem::EnvironmentName => "The environment may contain only letters, digits, spaces \
            and -_/${}. and may not start or end with /."
            .to_owned(),
        Problem::Repository(RepositoryForm::OwnerName) => {
            "The repository must look like owner/name.".to_owned()
        }
        Problem::Repository(RepositoryForm::HostGroupName) => {
            "The repository must look like host/group/name.".to_owned()
        }
        Problem::Repository(RepositoryForm::GitUrl) => "The repository must be an ssh, https or \
            file git URL, without a password (the project's deploy key authenticates)."
            .to_owned(),
        Problem::RepositoryForProvider => {
            "The repository field is required when the provider changes.".to_owned()
        }
        Problem::LocalRepositoriesOff => "file:// repositories are switched off: start Slipway \
            with --local-repositories DIR to allow those under DIR."
            .to_owned(),
        Problem::LocalRepositoryOutside(dir) => {
            format!("file:// repositories must be under {dir}.")
        }
        Problem::Unreadable(why) | Problem::Outbound(why) => why.clone(),
        Problem::Exclusive(other) => format!(
            "The {a} field prohibits {} from being present.",
            attribute_name(other)
        ),
        Problem::ReadOnly => format!("The {a} field is prohibited."),
        Problem::OutOfRange => format!("The {a} field is out of range."),
        Problem::DateWindow => format!("The {a} is not a valid date."),
        Problem::Taken => format!("The {a} has already been taken."),
        Problem::NoSuchUser => "No Slipway user has this e-mail address.".to_owned(),
        Problem::OwnerCannotCollaborate => {
            "The project's owner cannot be its collaborator.".to_owned()
        }
        Problem::FolderLinked => "The project already links a folder at this path.".to_owned(),
        Problem::KeyDoesNotUnlock => "The given key does not unlock this environment.".to_owned(),
        Problem::NotTheProjectsServers => {
            "The selected servers are invalid: each must be a server of this project.".to_owned()
        }
        Problem::HealthGateNeedsMonitor => {
            "The health gate needs a monitor URL to poll after activation.".to_owned()
        }
        Problem::NoServersIn(environment) => {
            format!("The {environment} environment has no servers to deploy to.")
        }
        Problem::NoCodeServersIn(environment) => {
            format!("The {environment} environment has no servers that receive code.")
        }
        Problem::ReleaseAndDeployment => {
            "Name the release or the deployment to roll back to, not both.".to_owned()
        }
        Problem::ReleaseElsewhere(release, belongs, asked) => {
            format!("Release {release} belongs to the {belongs} environment, not {asked}.")
        }
        Problem::NoEarlierRelease => "There is no earlier release to roll back to: none was \
            live before the current one, or it is gone."
            .to_owned(),
        Problem::Unusable(release, why) => {
            format!("Release {release} cannot be rolled back to: {why}.")
        }
        Problem::BuiltNoRelease => "The selected deployment built no release.".to_owned(),
        Problem::NoEventHeader => "Send X-GitHub-Event, X-Gitlab-Event or X-Event-Key: this is \
            a provider web hook."
            .to_owned(),
        Problem::PayloadNotJson => "The payload is not valid JSON.".to_owned(),
        Problem::AlreadyStopped => "The environment is already stopped.".to_owned(),
        Problem::CredentialsRefused => "These credentials do not match our records.".to_owned(),
        Problem::TooManyAttempts => {
            "Too many sign-in attempts. Please wait a minute and try again.".to_owned()
        }
        Problem::PasswordTooShort(min) => {
            format!("The password must be at least {min} characters.")
        }
    }
}

/// Why a valid request could not be carried out.
pub fn failure(failure: &Failure) -> String {
    match failure {
        Failure::DeploymentEnded(status) => format!("The deployment already ended ({status})."),
        Failure::ChangedMeanwhile => "The environment was changed by another request meanwhile; \
            nothing was written. Read it again and retry."
            .to_owned(),
        Failure::NotWritten(servers) => format!(
            "The environment was saved, but could not be written to: {}.",
            servers.join(", ")
        ),
    }
}
