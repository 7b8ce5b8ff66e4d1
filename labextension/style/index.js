import './base.css';
import './lifecycle.css';
import './lifecycle.css';
